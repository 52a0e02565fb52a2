"""The control protocol's version and frame limit, in a module that imports nothing.

The protocol (`neuro._control`) and the lean `neuro ps` (`neuro.shell._lean`, which speaks
the protocol without msgspec: importing it would double that command's start-up time) both
read them here, so the two can never disagree. Bump `PROTOCOL` for a change that breaks
msgspec's schema-evolution rules (see `neuro._control`).
"""

PROTOCOL = 1
MAX_FRAME = 16 << 20  # 16 MiB: a frame carries one request or reply, never a data set
