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

#ifdef FPGA_ACCEL_AXIS_WRAPPER
// The hls::axis wrapper the vitis build flow synthesises (runtime/axis_wrapper.py), compiled as is.
#include FPGA_ACCEL_AXIS_WRAPPER

#include <cstdint>
#include <cstring>

// Words in and out as the DMA moves them: raw 32-bit TDATA (the wrapper's data type read bit for bit),
// TLAST beside each. Returns 0, or the sample + 1 after which the wrapper did not write exactly N_OUT
// words (the caller raises).
template <typename In, typename Out>
static unsigned long fpga_accel_axis_drive(void (*top)(hls::stream<In> &, hls::stream<Out> &), const uint32_t *in,
                                           const unsigned char *in_last, unsigned long n_samples, uint32_t *out,
                                           unsigned char *out_last) {
    static_assert(sizeof(In().data) == sizeof(uint32_t) && sizeof(Out().data) == sizeof(uint32_t),
                  "the simulated DMA moves 32-bit words");
    hls::stream<In> in_stream("in_stream");
    hls::stream<Out> out_stream("out_stream");
    for (unsigned long s = 0; s < n_samples; ++s) {
        for (unsigned i = 0; i < N_IN; ++i) {
            In word;
            std::memcpy(&word.data, &in[s * N_IN + i], sizeof(uint32_t));
            word.keep = -1;
            word.strb = -1;
            word.last = in_last[s * N_IN + i] ? 1 : 0;
            in_stream.write(word);
        }
        top(in_stream, out_stream);
        for (unsigned j = 0; j < N_OUT; ++j) {
            if (out_stream.empty()) {
                return s + 1;
            }
            Out word = out_stream.read();
            std::memcpy(&out[s * N_OUT + j], &word.data, sizeof(uint32_t));
            out_last[s * N_OUT + j] = word.last == 1 ? 1 : 0;
        }
        if (!out_stream.empty() || !in_stream.empty()) {
            return s + 1;
        }
    }
    return 0;
}

extern "C" unsigned long fpga_accel_axis_run(const uint32_t *in, const unsigned char *in_last, unsigned long n_samples,
                                            uint32_t *out, unsigned char *out_last) {
    return fpga_accel_axis_drive(&FPGA_ACCEL_AXIS_TOP, in, in_last, n_samples, out, out_last);
}
#endif
