from platformio.public import PlatformBase


class DmcqemuPlatform(PlatformBase):
    pass
