from platformio.public import PlatformBase


class Dmcqemurv32Platform(PlatformBase):
    pass
