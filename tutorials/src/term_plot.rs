//! A plot drawn with characters, for a quick look in the terminal (the chapters also write PNGs).

/// Draws each series of (x, y) points with its own character on a `width` x `height` grid,
/// with the y range on the left and the x range below. Later series draw over earlier ones.
pub fn plot(series: &[(&str, char, &[(f32, f32)])], width: usize, height: usize) -> String {
    let pts = series.iter().flat_map(|(_, _, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    let mut grid = vec![vec![' '; width]; height];
    for (_, c, points) in series {
        for &(x, y) in points.iter() {
            let col = (((x - x0) / (x1 - x0)) * (width - 1) as f32).round() as usize;
            let row = (((y1 - y) / (y1 - y0)) * (height - 1) as f32).round() as usize;
            grid[row.min(height - 1)][col.min(width - 1)] = *c;
        }
    }
    let mut out = String::new();
    for (r, row) in grid.iter().enumerate() {
        let label = match r {
            0 => format!("{y1:>7.2} |"),
            r if r == height - 1 => format!("{y0:>7.2} |"),
            _ => "        |".to_string(),
        };
        out.push_str(&label);
        out.extend(row.iter());
        out.push('\n');
    }
    out.push_str(&format!("        +{}\n", "-".repeat(width)));
    out.push_str(&format!("        {x0:<8.2}{:>w$.2}\n", x1, w = width - 7));
    let legend: Vec<String> = series
        .iter()
        .map(|(name, c, _)| format!("{c} {name}"))
        .collect();
    out.push_str(&format!("        {}\n", legend.join("   ")));
    out
}
