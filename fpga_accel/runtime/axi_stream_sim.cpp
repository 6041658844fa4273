// Simulated PYNQ board: drives hls4ml's AXI-stream wrapper (<project>_axi) word by word with TLAST,
// exactly as the AXI DMA feeds it, so the pynq driver's own code can run against C simulation.
// Compiled by fpga_accel.runtime.csim_build together with the project's bridge, which it includes.
#include FPGA_ACCEL_BRIDGE

#include <string>

static std::string fpga_accel_weights = "weights";

extern "C" {

// Where csim reads firmware/weights/*.txt at its first call (see weights_dir.h).
const char *fpga_accel_weights_dir() { return fpga_accel_weights.c_str(); }
void fpga_accel_set_weights_dir(const char *folder) { fpga_accel_weights = folder; }

unsigned fpga_accel_axi_n_in() { return N_IN; }
unsigned fpga_accel_axi_n_out() { return N_OUT; }

// One wrapper call per sample: N_IN words in (data + TLAST), N_OUT words out (data + TLAST).
// The wrapper asserts output TLAST only at the end of a sample in which an input TLAST arrived.
void fpga_accel_axi_run(const float *in, const unsigned char *in_last, unsigned long n_samples, float *out,
                        unsigned char *out_last) {
    input_axi_t words_in[N_IN];
    output_axi_t words_out[N_OUT];
    for (unsigned long s = 0; s < n_samples; ++s) {
        for (unsigned i = 0; i < N_IN; ++i) {
            words_in[i] = input_axi_t(in[s * N_IN + i], ap_uint<1>(in_last[s * N_IN + i] ? 1 : 0));
        }
        FPGA_ACCEL_AXI_TOP(words_in, words_out);
        for (unsigned j = 0; j < N_OUT; ++j) {
            out[s * N_OUT + j] = (float)words_out[j].data;
            out_last[s * N_OUT + j] = words_out[j].last == 1 ? 1 : 0;
        }
    }
}
}
