"""The demo's privacy act: a private answer never reaches a neuro that is not cleared for it.

Two policies (written into the demo's policy folder before its kernel starts): `vault`, whose
answers are labelled `private`, and `outsider`, cleared for nothing. Both neuros come from a
file, so they run sandboxed; the outsider asks the vault and the kernel refuses the answer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import neuro

POLICIES = {
    "vault.toml": 'sandbox = "process"\nsandboxes = ["process", "docker"]\n'
                  '[labels]\noutputs = ["private"]\nclearance = ["private"]\n',
    "outsider.toml": 'sandbox = "process"\nsandboxes = ["process", "docker"]\n[labels]\n',
}

MESSAGES = '''
from neuro import sdk


class Ask(sdk.Message):
    to: str = ""


class Said(sdk.Message):
    text: str
'''

VAULT = MESSAGES + '''

class Vault(sdk.Neuro):
    name = "vault"
    input = Ask
    output = Said
    policy = "vault"

    def handle(self, ctx, msg):
        return Said(text="the user's diary")
'''

OUTSIDER = MESSAGES + '''

class Outsider(sdk.Neuro):
    name = "outsider"
    input = Ask
    output = Said
    policy = "outsider"

    async def handle(self, ctx, msg):
        try:
            return await ctx.call(msg.to, Ask())
        except Exception as e:  # the refusal, as this neuro sees it
            return Said(text=f"{type(e).__name__}: {e}")
'''


def policy_folder(folder: Path) -> Path:
    """The demo kernel's policy folder, holding the two policies of this act."""
    policies = folder / "policies"
    policies.mkdir(exist_ok=True)
    for name, text in POLICIES.items():
        (policies / name).write_text(text)
    return policies


async def privacy(k: neuro.Kernel, folder: Path) -> str:
    if shutil.which("bwrap") is None:
        return "skipped: bubblewrap is not installed (labels hold only in a sandbox; scripts/setup.sh installs it)"
    for name, text in (("vault", VAULT), ("outsider", OUTSIDER)):
        module = folder / f"{name}_neuro.py"
        module.write_text(text)
        loaded = await k.load(module)  # untrusted: described in a sandbox, run in one
        await k.spawn(loaded.cls, source=loaded.files)
    said = await k.call("outsider", {"to": "vault"}, timeout=30)
    refused = len(await k.log.events(name="flow.refused"))
    got = "REFUSED" if "FlowRefused" in said.text else f"GOT {said.text!r} (labels failed)"
    return f"the outsider asked the vault (answers labelled private): {got}; {refused} flow.refused event(s) logged"
