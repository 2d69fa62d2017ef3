"""Simulated Uno: avr-gcc builds firmware.elf; ``program`` is a launcher that runs it in simavr
(dmc_simavr, built here from extras/platformio/simavr) with the UART on stdin/stdout."""
import os
import stat
import subprocess

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
mcu = board.get("build.mcu")
env.Replace(
    AR="avr-gcc-ar", AS="avr-gcc", CC="avr-gcc", CXX="avr-g++", LINK="avr-g++", RANLIB="avr-gcc-ranlib",
    OBJCOPY="avr-objcopy", SIZETOOL="avr-size", ARFLAGS=["rc"], PROGNAME="firmware", PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.bootloader)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.noinit)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -A -d $SOURCES",
)
env.Append(
    ASFLAGS=["-x", "assembler-with-cpp", "-mmcu=%s" % mcu],
    CCFLAGS=["-Os", "-Wall", "-ffunction-sections", "-fdata-sections", "-mmcu=%s" % mcu],
    CFLAGS=["-std=gnu11"],
    CXXFLAGS=["-std=gnu++11", "-fno-exceptions", "-fno-threadsafe-statics", "-fno-rtti"],
    CPPDEFINES=[("F_CPU", board.get("build.f_cpu"))],
    LINKFLAGS=["-Os", "-mmcu=%s" % mcu, "-Wl,--gc-sections"],
    LIBS=["m"],
)
program = env.BuildProgram()

# the simulator harness, compiled for the host once per build folder
harness_src = os.path.normpath(os.path.join(env.PioPlatform().get_dir(), "..", "..", "simavr", "dmc_simavr.c"))
harness = env.subst("$BUILD_DIR/dmc_simavr")
launcher = env.subst("$BUILD_DIR/program")


def build_harness(target, source, env):
    cmd = ["gcc", "-O2", "-o", harness, harness_src, "-lsimavr", "-lelf"]
    if subprocess.call(cmd) != 0:
        print("dmcsimavr: building the simavr harness failed; install simavr, libsimavr-dev and libelf-dev")
        return 1
    with open(launcher, "w") as f:
        f.write('#!/bin/sh\nexec "%s" -m %s -f %d "$@" "%s"\n'
                % (harness, mcu, int(str(board.get("build.f_cpu")).rstrip("L")), env.subst("$BUILD_DIR/firmware.elf")))
    os.chmod(launcher, os.stat(launcher).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return 0


env.AddPostAction(program, build_harness)
AlwaysBuild(env.Alias("exec", program, env.VerboseAction(launcher + " $PROGRAM_ARGS", "Simulating $SOURCE")))
AlwaysBuild(env.Alias("size", program, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE")))
Default([program])
