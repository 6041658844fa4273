"""Pipeline stages, in order. Each module has one public entry taking the previous stage's output."""

STAGES = ("quantize", "convert", "csim", "build", "package", "deploy")
