// loss kernels
