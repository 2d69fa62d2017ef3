from platformio.public import PlatformBase


class DmchostPlatform(PlatformBase):
    pass
