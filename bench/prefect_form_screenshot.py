"""A headless-Chromium screenshot of the Prefect UI's custom-run form of a playbook deployment
(issue 14: the playbook as a choice list with descriptions, no plumbing fields).

    python -m bench.prefect_form_screenshot [--out bench/screenshots/run-playbook-form.png]

Starts a `prefect server` (with its UI) in a scratch PREFECT_HOME, registers the deployments
of deployments/serve.py, opens ``/deployments/deployment/<id>/run`` of ``run-playbook/
data-drift`` in Chromium (Debian's ``chromium``) over the DevTools protocol, opens the
playbook's choice list and saves the page. Prints what the form shows: the field labels, the
choices, and whether any plumbing field (trigger, dedup_key, drill, home, quiet) appears.

Why the page once opened as a JSON editor: a deployment sends its parameter schema with
``exclude_unset``, so a ``ParameterSchema`` built without an explicit root ``type: object``
reached the server without one; the UI then has no form for the root and shows JSON, and its
"Use form input" refuses to switch while the JSON fails validation (no profile yet).
deployments/serve.py ``form_schema`` sets the type; the script fails (exit 1, page saved as
``<out>.failed.png``) if the form does not render.
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

__all__ = ["capture", "judge", "main"]

DEFAULT_OUT = Path(__file__).parent / "screenshots" / "run-playbook-form.png"
DEPLOYMENT = "run-playbook/data-drift"
# Read from the rendered page: labels of the form's fields and any open list's options.
_PROBE = """(() => {
  const text = document.body.innerText;
  const select = document.querySelector('select[data-mlpb-choices]');
  const options = select && select.getBoundingClientRect().height > 0
    ? [...select.options].map(o => o.value) : [];
  const wide = document.documentElement.scrollWidth > window.innerWidth;
  return JSON.stringify({text, options, wide});
})()"""


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
        if not await cdp.wait_for("document.body && /Profile/.test(document.body.innerText)"
                                  " && /Dry run/i.test(document.body.innerText)", timeout):
            shot = await cdp.call("Page.captureScreenshot", format="png")
            out.with_suffix(".failed.png").write_bytes(base64.b64decode(shot["data"]))
            text = await cdp.evaluate("document.body ? document.body.innerText : ''")
            raise RuntimeError(f"the run form did not render in {timeout:g} s at {url}; the "
                               f"page (saved as {out.with_suffix('.failed.png')}) says: "
                               f"{str(text)[:600]!r}")
        # Show the playbook's choice list: the form's control for it is a native <select>,
        # whose pop-up a headless screenshot does not capture, so it is expanded in place
        # to a list box of all its options.
        opened = await cdp.evaluate("""(() => {
          const label = [...document.querySelectorAll('label, p, span, div')]
            .find(e => e.childElementCount === 0 && e.innerText.trim() === 'Playbook');
          if (!label) return false;
          let box = label;
          for (let i = 0; i < 6 && box; i++, box = box.parentElement) {
            const select = box.querySelector('select');
            if (select) {
              select.size = select.options.length;
              const tall = select.options.length * 22 + 12 + 'px';
              Object.assign(select.style, {position: 'static', height: tall, opacity: '1',
                                           width: '100%', overflow: 'hidden'});
              for (let up = select.parentElement, j = 0; up && j < 2; up = up.parentElement,
                   j++) {
                Object.assign(up.style, {height: 'auto', minHeight: tall,
                                         overflow: 'visible'});
              }
              select.setAttribute('data-mlpb-choices', '1');
              return true;
            }
          }
          return false;
        })()""")
        probe = json.loads(await cdp.evaluate(_PROBE))
        shot = await cdp.call("Page.captureScreenshot", format="png")
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


def judge(seen: dict[str, Any]) -> list[str]:
    """What the page lacks to pass (empty: it passes): the three fields with their
    descriptions, the catalog as the playbook's shown choices, no plumbing field."""
    from flows.params import HIDDEN_PARAMETERS
    from playbooks.loader import catalog_ids

    lines = [line.strip().lower() for line in str(seen["text"]).splitlines()]
    problems = [f"no {label!r} field" for label in ("Playbook", "Profile", "Dry Run")
                if not any(line.startswith(label.lower()) for line in lines)]
    problems += [f"no description {d!r}" for d in ("Which playbook to run",
                                                    "Model profile name",
                                                    "Diagnose and recommend only")
                 if d not in seen["text"]]
    if seen["options"] != catalog_ids():
        problems.append(f"the playbook's open list shows {seen['options'] or 'nothing'}, "
                        f"not the catalog {catalog_ids()}")
    for name in HIDDEN_PARAMETERS:
        label = name.replace("_", " ")
        if any(line in (label, f"{label} (optional)") for line in lines):
            problems.append(f"plumbing field {name!r} shown")
    if seen.get("wide"):
        problems.append("the form is wider than the window (a line that does not wrap)")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.prefect_form_screenshot",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per wait")
    args = ap.parse_args(argv)
    try:
        seen = capture(args.out, timeout=args.timeout)
    except RuntimeError as exc:
        print(f"FAIL      {exc}")
        return 1
    problems = judge(seen)
    print(f"form      {seen['url']}")
    print(f"choices   {', '.join(seen['options']) or '(list not opened)'}")
    print(f"saved     {args.out}")
    for problem in problems:
        print(f"FAIL      {problem}")
    if not problems:
        print("PASS      the playbook is a choice list of the catalog; every field has its "
              "description; no plumbing field")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
