"""The Arduino API subset of DeepMicroCompression's shim, over the QEMU virt ns16550 UART, with
the start-up code and linker script of the board."""
import os

Import("env")

shim = os.path.normpath(os.path.join(env.PioPlatform().get_dir(), "..", "..", "shim"))
env.Append(CPPPATH=[shim])
env.Replace(LDSCRIPT_PATH=os.path.join(shim, "rv32_virt.ld"))
env.BuildSources("$BUILD_DIR/FrameworkShim", shim, "-<*> +<shim_common.cpp> +<port_rv32.cpp> +<startup_rv32.c>")
