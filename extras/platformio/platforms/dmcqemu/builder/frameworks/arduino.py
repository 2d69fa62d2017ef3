"""The Arduino API subset of DeepMicroCompression's shim, over the mps2 CMSDK UART, with the
vector table, reset handler and linker script of the board."""
import os

Import("env")

shim = os.path.normpath(os.path.join(env.PioPlatform().get_dir(), "..", "..", "shim"))
env.Append(CPPPATH=[shim])
env.Replace(LDSCRIPT_PATH=os.path.join(shim, "mps2_an386.ld"))
env.BuildSources("$BUILD_DIR/FrameworkShim", shim, "-<*> +<shim_common.cpp> +<port_mps2.cpp> +<startup_mps2.c>")
