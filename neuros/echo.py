"""`echo`: replies with what it was sent. The smallest useful neuro, and the kernel's probe."""

from neuro import sdk


class EchoIn(sdk.Message):
    text: str


class EchoOut(sdk.Message):
    text: str


class Echo(sdk.Neuro):
    name = "echo"
    input = EchoIn
    output = EchoOut
    policy = "trusted"

    def handle(self, ctx: sdk.Context, msg: EchoIn) -> EchoOut:
        return EchoOut(text=msg.text)
