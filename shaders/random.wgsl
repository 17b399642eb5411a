// random kernels
