"""Host build: g++, a native ``program``; `pio test` and `pio run -t exec` run it directly."""
from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
env.Replace(AR="ar", AS="gcc", CC="gcc", CXX="g++", LINK="g++", RANLIB="ranlib", PROGNAME="program", PROGSUFFIX="")
env.Append(CCFLAGS=["-O2", "-Wall", "-Wextra"], CXXFLAGS=["-std=gnu++11"])
program = env.BuildProgram()
AlwaysBuild(env.Alias("exec", program, env.VerboseAction("$SOURCE $PROGRAM_ARGS", "Executing $SOURCE")))
Default([program])
