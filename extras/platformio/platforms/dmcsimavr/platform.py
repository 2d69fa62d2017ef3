from platformio.public import PlatformBase


class DmcsimavrPlatform(PlatformBase):
    pass
