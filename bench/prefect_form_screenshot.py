"""A headless-Chromium screenshot of the Prefect UI's custom-run form of a playbook deployment
(issue 14: the playbook as a choice list with descriptions, no plumbing fields).

    python -m bench.prefect_form_screenshot [--out bench/screenshots/run-playbook-form.png]

Starts a `prefect server` (with its UI) in a scratch PREFECT_HOME, registers the deployments
of deployments/serve.py, opens ``/deployments/deployment/<id>/run`` of ``run-playbook/
data-drift`` in Chromium (Debian's ``chromium``) over the DevTools protocol, opens the
playbook's choice list and saves the page. Prints what the form shows: the field labels, the
choices, and whether any plumbing field (trigger, dedup_key, drill, home, quiet) appears.

Known gap: Prefect 3.9's UI opens this page with the parameters as a JSON editor; the
script tries the parameters menu's "Use form input", which did not switch it here, and then
saves what the page shows as ``<out>.failed.png`` and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import free_port, running_server

__all__ = ["capture", "main"]

DEFAULT_OUT = Path(__file__).parent / "screenshots" / "run-playbook-form.png"
DEPLOYMENT = "run-playbook/data-drift"
# Read from the rendered page: labels of the form's fields and any open list's options.
_PROBE = """(() => {
  const text = document.body.innerText;
  const options = [...document.querySelectorAll('[role=option], option, .p-select-option')]
    .map(o => o.innerText.trim()).filter(Boolean);
  return JSON.stringify({text, options});
})()"""


_LEAVES = ("[...document.querySelectorAll('body *')]"
           ".filter(e => e.childElementCount === 0 && typeof e.innerText === 'string')")
_TO_FORM_MENU = f"""(() => {{
  const head = {_LEAVES}.find(e => e.innerText.trim() === 'Parameters');
  if (!head) return false;
  for (let box = head.parentElement, i = 0; box && i < 4; box = box.parentElement, i++) {{
    const button = box.querySelector('button');
    if (button) {{ button.click(); return true; }}
  }}
  return false;
}})()"""
_MENU_OPEN = f"{_LEAVES}.some(e => e.innerText.trim() === 'Use form input')"
_PICK_FORM = f"""(() => {{
  const item = {_LEAVES}.find(e => e.innerText.trim() === 'Use form input');
  if (!item) return null;
  const r = item.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
}})()"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SystemExit("no Chromium on PATH: `apt-get install -y chromium` (Debian) and retry")


class _Cdp:
    """Just enough of the DevTools protocol: send a command, wait for its answer."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.next_id = ws, 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))

    async def evaluate(self, expr: str) -> Any:
        out = await self.call("Runtime.evaluate", expression=expr, returnByValue=True,
                              awaitPromise=True)
        return out.get("result", {}).get("value")

    async def click(self, at: list[float] | None) -> None:
        """A real mouse click (menus ignore a script's element.click())."""
        if not at:
            return
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=at[0], y=at[1],
                            button="left", clickCount=1)

    async def wait_for(self, expr: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.evaluate(expr):
                return True
            await asyncio.sleep(0.5)  # polling a page we do not control; not a test timer
        return False


async def _shoot(url: str, out: Path, port: int, timeout: float) -> dict[str, Any]:
    import httpx
    import websockets

    deadline = time.monotonic() + 30
    while True:
        try:
            targets = httpx.get(f"http://127.0.0.1:{port}/json", timeout=2).json()
            page = next(t for t in targets if t.get("type") == "page")
            break
        except (httpx.HTTPError, StopIteration):
            if time.monotonic() > deadline:
                raise RuntimeError("Chromium's DevTools endpoint did not come up") from None
            await asyncio.sleep(0.3)
    async with websockets.connect(page["webSocketDebuggerUrl"], max_size=2**26) as ws:
        cdp = _Cdp(ws)
        await cdp.call("Page.enable")
        await cdp.call("Emulation.setDeviceMetricsOverride", width=1280, height=1500,
                       deviceScaleFactor=1, mobile=False)
        await cdp.call("Page.navigate", url=url)
        # The page may open the parameters as JSON: switch its input to the form (the menu
        # beside 'Parameters' offers "Form" / "JSON").
        if await cdp.wait_for("document.body && /Parameters/.test(document.body.innerText)",
                              timeout):
            await cdp.evaluate(_TO_FORM_MENU)
            await cdp.wait_for(_MENU_OPEN, 10)
            await cdp.click(await cdp.evaluate(_PICK_FORM))
        if not await cdp.wait_for("document.body && /Profile/.test(document.body.innerText)"
                                  " && /Dry run/i.test(document.body.innerText)", timeout):
            shot = await cdp.call("Page.captureScreenshot", format="png")
            out.with_suffix(".failed.png").write_bytes(base64.b64decode(shot["data"]))
            text = await cdp.evaluate("document.body ? document.body.innerText : ''")
            raise RuntimeError(f"the run form did not render in {timeout:g} s at {url}; the "
                               f"page (saved as {out.with_suffix('.failed.png')}) says: "
                               f"{str(text)[:600]!r}")
        # Open the playbook's choice list: the control right after the 'Playbook' label.
        opened = await cdp.evaluate("""(() => {
          const label = [...document.querySelectorAll('label, p, span, div')]
            .find(e => e.childElementCount === 0 && e.innerText.trim() === 'Playbook');
          if (!label) return false;
          let box = label;
          for (let i = 0; i < 6 && box; i++, box = box.parentElement) {
            const ctl = box.querySelector('[role=combobox], select, button, .p-select');
            if (ctl) { ctl.scrollIntoView({block: 'center'}); ctl.click(); return true; }
          }
          return false;
        })()""")
        if opened:
            await cdp.wait_for("document.querySelectorAll('[role=option], .p-select-option')"
                               ".length > 0", 10)
        probe = json.loads(await cdp.evaluate(_PROBE))
        shot = await cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(shot["data"]))
    return {"opened": bool(opened), **probe}


def capture(out: Path = DEFAULT_OUT, *, timeout: float = 120.0) -> dict[str, Any]:
    """Serve, register, screenshot; returns what the page showed (text, options)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from deployments.serve import build_deployments

    with tempfile.TemporaryDirectory(prefix="mlpb-ui-") as tmp:
        root, port = Path(tmp), free_port()
        api = f"http://127.0.0.1:{port}/api"
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env.update(PREFECT_HOME=str(root / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false",
                   PREFECT_UI_API_URL=api)
        cmd = [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host",
               "127.0.0.1", "--port", str(port), "--no-services"]
        with running_server(cmd, name="prefect server", health_url=f"{api}/health",
                            log=root / "server.log", env=env, timeout_s=timeout,
                            start_new_session=True):
            with temporary_settings({PREFECT_API_URL: api}):
                deployment_id = None
                for dep in build_deployments():
                    if dep.flow_name == "run-playbook":
                        found = dep.apply()
                        if f"run-playbook/{dep.name}" == DEPLOYMENT:
                            deployment_id = found
            url = f"http://127.0.0.1:{port}/deployments/deployment/{deployment_id}/run"
            cdp_port = free_port()
            browser = subprocess.Popen(
                [_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
                 "--hide-scrollbars", f"--remote-debugging-port={cdp_port}",
                 f"--user-data-dir={root / 'chromium'}", "about:blank"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                return {"url": url, **asyncio.run(_shoot(url, out, cdp_port, timeout))}
            finally:
                browser.terminate()
                try:
                    browser.wait(15)
                except subprocess.TimeoutExpired:
                    browser.kill()
                    browser.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.prefect_form_screenshot",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per wait")
    args = ap.parse_args(argv)
    from flows.params import HIDDEN_PARAMETERS

    seen = capture(args.out, timeout=args.timeout)
    text = seen["text"]
    low = text.lower()
    labels = {"Playbook": "playbook" in low, "Profile": "profile" in low,
              "Dry Run": "dry run" in low}
    plumbing = [p for p in HIDDEN_PARAMETERS
                if p.replace("_", " ") in low.split("\n") or p in low.split()]
    print(f"form      {seen['url']}")
    print(f"labels    {', '.join(k for k, v in labels.items() if v)}")
    print(f"choices   {', '.join(seen['options']) or '(list not opened)'}")
    print(f"plumbing  {', '.join(plumbing) or 'none shown'}")
    print(f"saved     {args.out}")
    return 0 if all(labels.values()) and not plumbing and seen["options"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
