"""What the build step needs to know about AMD's tools: finding them and their releases, the PYNQ-Z2 board
files, and the Vitis HLS 2023.1+ flow beside hls4ml's VivadoAccelerator one. Helpers of ``stages.build``,
not steps themselves."""
