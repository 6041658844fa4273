// Included before every fpga_accel csim translation unit (g++ -include): hls4ml's WEIGHTS_DIR, normally a
// compile-time absolute path, becomes the folder the loader sets right after dlopen. The library's
// identity then depends on the design's content only, not on where the project lives.
#ifndef FPGA_ACCEL_WEIGHTS_DIR_H
#define FPGA_ACCEL_WEIGHTS_DIR_H
extern "C" const char *fpga_accel_weights_dir();
#endif
