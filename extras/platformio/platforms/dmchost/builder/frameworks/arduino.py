"""The Arduino API subset of DeepMicroCompression's shim, over stdin/stdout."""
import os

Import("env")

shim = os.path.normpath(os.path.join(env.PioPlatform().get_dir(), "..", "..", "shim"))
env.Append(CPPPATH=[shim], CPPDEFINES=[("F_CPU", env.BoardConfig().get("build.f_cpu", "1000000000L"))])
env.BuildSources("$BUILD_DIR/FrameworkShim", shim, "-<*> +<shim_common.cpp> +<port_host.cpp>")
