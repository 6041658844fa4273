// hls::axis for C simulation without Vitis HLS: the subset fpga_accel's AXI-stream wrapper uses.
//
// Vitis HLS ships ap_axi_sdata.h; hls4ml's ap_types do not. csim_build puts this folder on the include
// path after hls4ml's ap_types, and only for g++: a Vitis HLS run never sees it, its own header wins.
// The layout follows Vitis' for the no-side-channel case (WUser = WId = WDest = 0): TDATA, TKEEP,
// TSTRB and TLAST. Side channels are refused at compile time rather than modelled.
#ifndef FPGA_ACCEL_AP_AXI_SDATA_H_
#define FPGA_ACCEL_AP_AXI_SDATA_H_

#include <cstddef>

#include "ap_int.h"
#include "hls_stream.h"

namespace hls {

template <typename T, std::size_t WUser = 0, std::size_t WId = 0, std::size_t WDest = 0> struct axis {
    static_assert(WUser == 0 && WId == 0 && WDest == 0,
                  "fpga_accel's csim hls::axis models TDATA/TKEEP/TSTRB/TLAST only (no TUSER/TID/TDEST)");
    T data;
    ap_uint<sizeof(T)> keep; // one bit per TDATA byte; in C simulation sizeof(T) is the byte count
    ap_uint<sizeof(T)> strb;
    ap_uint<1> last;
};

} // namespace hls

template <int D, int U, int TI, int TD> using ap_axiu = hls::axis<ap_uint<D>, U, TI, TD>;
template <int D, int U, int TI, int TD> using ap_axis = hls::axis<ap_int<D>, U, TI, TD>;

#endif
