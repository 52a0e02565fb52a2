"""The neuros the flow-attempt suite runs (this file holds no tests). Shipped as source into the
process sandbox: it imports only the SDK and the standard library.

Every one is the same small agent under another name and policy: it does what a `Do` says
(answer, pass the message on along `path`, keep or recall a note in its state, keep it as an
artifact, publish it, declassify a label), so each test can lay out one route for data to take.
"""

from __future__ import annotations

from neuro import sdk


class Do(sdk.Message):
    op: str = "echo"       # echo, pass, keep, recall, stash, unstash, publish, raise, declassify
    text: str = ""
    path: list[str] = []   # `pass`: the neuros after this one, in order
    then: str = "echo"     # `pass`: what the last neuro on the path does
    topic: str = "notes"
    label: str = ""


class Done(sdk.Message):
    text: str = ""
    labels: list[str] = []


class Agent(sdk.Neuro, abstract=True):
    input = Do
    output = Done

    def __init__(self) -> None:
        self.note = ""
        self.stashed = ""

    async def handle(self, ctx, msg):
        op = msg.op
        if op == "pass":
            nxt, rest = msg.path[0], msg.path[1:]
            step = Do(op="pass" if rest else msg.then, text=msg.text, path=rest, then=msg.then, topic=msg.topic)
            return await ctx.call(nxt, step)
        if op == "keep":
            self.note = msg.text
        elif op == "recall":
            return Done(text=self.note)
        elif op == "stash":
            self.stashed = await ctx.put_artifact(msg.text.encode(), label="note")
            return Done(text=self.stashed)
        elif op == "unstash":
            return Done(text=(await ctx.get_artifact(msg.text)).decode())
        elif op == "publish":
            await ctx.publish(msg.topic, Do(op="keep", text=msg.text))
        elif op == "raise":
            raise ValueError("secret:" + msg.text)
        elif op == "declassify":
            await ctx.declassify(msg.label, reason="the test says this note is public")
        return Done(text=msg.text or self.note)


class Vault(Agent):
    """Holds the user's private notes: everything it says is labelled `private`."""
    name = "vault"
    policy = "vault"


class Relay(Agent):
    """Cleared for private data, with no way out: it may pass it on inside the kernel."""
    name = "relay"
    policy = "relay"


class Relay2(Agent):
    name = "relay2"
    policy = "relay"


class Uploader(Agent):
    """Cleared for private data, and it has the network, which private data may not leave by."""
    name = "uploader"
    policy = "uploader"


class Outsider(Agent):
    """Not cleared for anything labelled."""
    name = "outsider"
    policy = "outsider"
    subscribe = ("notes",)


class Listener(Agent):
    """Cleared for private data; hears `notes`."""
    name = "listener"
    policy = "relay"
    subscribe = ("notes",)


class Scrubber(Agent):
    """Cleared for private data and granted its declassification."""
    name = "scrubber"
    policy = "scrubber"


class Pretender(Agent):
    """Cleared for private data, but not granted its declassification."""
    name = "pretender"
    policy = "relay"


class Courier(Agent):
    """Cleared for private data, with the network, through which its policy lets private data go."""
    name = "courier"
    policy = "courier"


class Keeper(Agent):
    """Cleared for private data, no way out: keeps a note in its state."""
    name = "keeper"
    policy = "relay"


class Apprentice(Agent):
    """Cleared for private data, clean until a student is swapped in."""
    name = "apprentice"
    policy = "relay"



class Holder(Agent):
    """Cleared for private data, no way out; the version a swap replaces (label_neuros.NetHolder)."""
    name = "holder"
    policy = "relay"


class Diarist(Agent):
    """Labelled as the vault is; its selfcheck answers with what it holds."""
    name = "diarist"
    policy = "vault"

    def selfcheck(self):
        return {"note": "secret:diary"}
