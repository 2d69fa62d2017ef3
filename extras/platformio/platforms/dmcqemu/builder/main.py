"""QEMU Cortex-M4: arm-none-eabi-gcc builds firmware.elf; ``program`` runs it in
qemu-system-arm with UART0 on stdin/stdout (binary safe, no monitor multiplexing) and an
instruction-driven virtual clock (-icount), so the serial runner reports exact instruction
counts (see shim/port_mps2.cpp); the launcher says so on stderr for dmc.deploy.device. With sleep=off the virtual clock
never waits for the host's: several times faster, same counts (the firmware never idles)."""
import os
import stat

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
cpu = ["-mcpu=%s" % board.get("build.cpu"), "-mthumb"]
env.Replace(
    AR="arm-none-eabi-gcc-ar", AS="arm-none-eabi-gcc", CC="arm-none-eabi-gcc", CXX="arm-none-eabi-g++",
    LINK="arm-none-eabi-g++", RANLIB="arm-none-eabi-gcc-ranlib", SIZETOOL="arm-none-eabi-size",
    ARFLAGS=["rc"], PROGNAME="firmware", PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.ARM\.exidx)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -A -d $SOURCES",
)
env.Append(
    ASFLAGS=cpu,
    CCFLAGS=["-Os", "-Wall", "-ffunction-sections", "-fdata-sections"] + cpu,
    CXXFLAGS=["-std=gnu++11", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics"],
    CPPDEFINES=[("F_CPU", board.get("build.f_cpu")), "DMC_INSTRUCTION_COUNTER", "DMC_PORT_STAMPS",
                ("DMC_QEMU_ICOUNT_SHIFT", board.get("build.qemu_icount_shift"))],
    LINKFLAGS=cpu + ["-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs", "-nostartfiles"],
)
program = env.BuildProgram()
launcher = env.subst("$BUILD_DIR/program")


def write_launcher(target, source, env):
    with open(launcher, "w") as f:
        f.write('#!/bin/sh\necho "DMC_COUNTER instructions" >&2\n'
                'exec qemu-system-arm -M %s -nographic -monitor none -icount shift=%d,sleep=off '
                '-chardev stdio,id=uart,mux=off,signal=off -serial chardev:uart '
                '-chardev file,id=stamps,path=/dev/stderr,append=on -serial chardev:stamps "$@" -kernel "%s"\n'
                % (board.get("build.qemu_machine"), board.get("build.qemu_icount_shift"),
                   env.subst("$BUILD_DIR/firmware.elf")))
    os.chmod(launcher, os.stat(launcher).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return 0


env.AddPostAction(program, write_launcher)
AlwaysBuild(env.Alias("exec", program, env.VerboseAction(launcher + " $PROGRAM_ARGS", "Emulating $SOURCE")))
Default([program])
