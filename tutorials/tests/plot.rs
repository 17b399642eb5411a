//! The chart helpers: contour geometry, histogram normalisation, and that every chart type
//! renders to a file (fonts embedded, log axes, grids, GIF).

use tutorials::plot::{
    color, save_gif, save_grid, save_png, Arrows, DensityGrid, Histogram, Line, LineChart,
    LineStyle, Panel, Points, Quiver, Scatter,
};

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("flowgrad-plot-{}-{name}", std::process::id()))
}

#[test]
fn contour_of_a_paraboloid_lies_on_the_circle() {
    // log p = -(x^2 + y^2): the level -1 is the unit circle
    let (lim, n) = ((-2.0, 2.0), 81);
    let pts = DensityGrid::points(lim, lim, n);
    let logp: Vec<f32> = pts
        .chunks(2)
        .map(|p| -(p[0] * p[0] + p[1] * p[1]))
        .collect();
    let grid = DensityGrid::new(lim, lim, n, logp);
    let segs = grid.contour(-1.0);
    assert!(segs.len() > 50, "only {} segments", segs.len());
    for s in &segs {
        for (x, y) in s {
            let r = (x * x + y * y).sqrt();
            assert!((r - 1.0).abs() < 0.01, "contour point at radius {r}");
        }
    }
}

#[test]
fn histogram_densities_integrate_to_one_inside_the_range() {
    let values: Vec<f64> = (0..1000)
        .map(|i| (i as f64 + 0.5) / 1000.0 * 3.0 - 1.0)
        .collect(); // uniform on [-1, 2)
    let d = Histogram::densities(&values, -1.0, 2.0, 7);
    let area: f64 = d.iter().map(|h| h * 3.0 / 7.0).sum();
    assert!((area - 1.0).abs() < 1e-9, "area {area}");
    // half the values outside the range: half the area
    let d = Histogram::densities(&values, -1.0, 0.5, 5);
    let area: f64 = d.iter().map(|h| h * 1.5 / 5.0).sum();
    assert!((area - 0.5).abs() < 1e-9, "area {area}");
}

#[test]
fn every_chart_type_renders_to_png_and_gif() {
    let errs: Vec<(f64, f64)> = (1..8)
        .map(|k| (0.5f64.powi(k), 0.3 * 0.5f64.powi(2 * k)))
        .collect();
    let lines = LineChart::new("log-log", "h", "error").log_log().line(
        Line::new(errs, color(0))
            .style(LineStyle::LineMarkers)
            .label("h^2"),
    );
    let xs: Vec<f64> = (0..500)
        .map(|i| ((i * 37) % 101) as f64 / 25.0 - 2.0)
        .collect();
    let hist = Histogram::new("hist", "x", 20).sample("values", xs.clone(), color(1));
    let (lim, n) = ((-2.0, 2.0), 40);
    let logp = DensityGrid::points(lim, lim, n)
        .chunks(2)
        .map(|p| -(p[0] * p[0] + p[1] * p[1]))
        .collect();
    let grid = DensityGrid::new(lim, lim, n, logp);
    let pts: Vec<(f64, f64)> = xs
        .iter()
        .zip(xs.iter().skip(7))
        .map(|(&a, &b)| (a, b))
        .collect();
    let scatter = Scatter::new("scatter")
        .over(&grid)
        .points(Points::new(pts, color(3)).label("points"));
    let panels: [&dyn Panel; 3] = [&lines, &hist, &scatter];
    let (one, many, gif) = (tmp("one.png"), tmp("grid.png"), tmp("anim.gif"));
    save_png(&one, (400, 300), &lines).unwrap();
    save_grid(&many, "three panels", 3, (300, 300), &panels).unwrap();
    save_gif(&gif, (200, 200), 100, 2, |i, area| panels[i].draw(area)).unwrap();
    for p in [&one, &many, &gif] {
        let len = std::fs::metadata(p).unwrap().len();
        assert!(len > 3000, "{} has only {len} bytes", p.display());
        std::fs::remove_file(p).ok();
    }
}

#[test]
fn quiver_auto_scale_fits_the_95th_percentile_arrow_to_the_grid_spacing_and_renders() {
    // 10 x 10 arrows over [-2, 2]^2 (spacing 0.4); vectors of norm 1..100 (95th percentile 95)
    let starts: Vec<(f64, f64)> = (0..100)
        .map(|i| ((i % 10) as f64 * 0.4 - 1.8, (i / 10) as f64 * 0.4 - 1.8))
        .collect();
    let vectors: Vec<(f64, f64)> = (0..100)
        .map(|i| (0.6 * (i + 1) as f64, -0.8 * (i + 1) as f64))
        .collect();
    let q = Quiver::new("field")
        .arrows(Arrows::new(starts.clone(), vectors, color(0)).label("u"))
        .range((-2.0, 2.0), (-2.0, 2.0));
    let scale = q.auto_scale((-2.0, 2.0), (-2.0, 2.0));
    assert!((scale * 95.0 - 0.9 * 0.4).abs() < 1e-9, "scale {scale}");
    let rotated: Vec<(f64, f64)> = starts.iter().map(|&(x, y)| (-y, x)).collect();
    let both = q.arrows(Arrows::new(starts, rotated, color(1)).label("rotated"));
    let path = tmp("quiver.png");
    save_png(&path, (400, 400), &both).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 3000, "quiver.png has only {len} bytes");
    std::fs::remove_file(&path).ok();
}
