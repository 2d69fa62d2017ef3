"""Debian's Arduino AVR core (package arduino-core-avr), compiled as a static library."""
import os

Import("env")

board = env.BoardConfig()
core = env.GetProjectOption("custom_arduino_avr_dir", "/usr/share/arduino/hardware/arduino/avr")
if not os.path.isdir(os.path.join(core, "cores", "arduino")):
    print("dmcsimavr: no Arduino AVR core in %s; install Debian's arduino-core-avr or set "
          "custom_arduino_avr_dir" % core)
    env.Exit(1)
env.Append(
    CPPDEFINES=[("ARDUINO", 10807), "ARDUINO_%s" % board.get("build.board"), "ARDUINO_ARCH_AVR",
                ("DECIMAL_DIG", "__DECIMAL_DIG__")],  # avr-gcc 5.4 lacks DECIMAL_DIG for WString
    CPPPATH=[os.path.join(core, "cores", "arduino"), os.path.join(core, "variants", board.get("build.variant"))],
)
env.Prepend(LIBS=[env.BuildLibrary("$BUILD_DIR/FrameworkArduino", os.path.join(core, "cores", "arduino"))])
