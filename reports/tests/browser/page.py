#!/usr/bin/env python3
"""Opens an HTML report in headless Chromium and prints, as JSON, what a reader sees.

Usage: page.py CHROMIUM PAGE.html SCREENSHOT.png

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe: commands on
fd 3, answers on fd 4, each message JSON ended by a NUL byte), with the standard library only.
The page is loaded from its file with the network cut off, then:

- `text`: the page's visible text (innerText);
- `charts`: per inline SVG chart, its caption, legend and texts (axis labels), its drawn size,
  and the pixels that are not background (`ink`) and that are coloured once the browser has
  rasterized it (drawn on a canvas);
- `tables`: per section id, the visible text of each table's body rows and footer;
- `requests`: every URL the page tried to fetch besides itself (must be none);
- `phone`: the page's width at a phone's 390 CSS pixels (wider means it scrolls sideways);
- `pdf_bytes`: the size of the page printed to PDF;
- the screenshot of the whole page at 1200 pixels wide is written to SCREENSHOT.png.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile

COLLECT = r"""
(async () => {
  const charts = [];
  for (const svg of document.querySelectorAll("svg.chart")) {
    const box = svg.getBoundingClientRect();
    const xml = new XMLSerializer().serializeToString(svg);
    const img = new Image();
    const loaded = new Promise((ok, bad) => { img.onload = ok; img.onerror = bad; });
    img.src = "data:image/svg+xml;base64," + btoa(unescape(encodeURIComponent(xml)));
    await loaded;
    const w = Math.max(1, Math.round(box.width)), h = Math.max(1, Math.round(box.height));
    const canvas = document.createElement("canvas");
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0, w, h);
    const pixels = ctx.getImageData(0, 0, w, h).data;
    let ink = 0, colour = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      const [r, g, b] = [pixels[i], pixels[i + 1], pixels[i + 2]];
      if (r < 245 || g < 245 || b < 245) ink++;
      if (Math.max(r, g, b) - Math.min(r, g, b) > 40) colour++;
    }
    charts.push({
      label: svg.getAttribute("aria-label"),
      caption: svg.closest("figure").querySelector("figcaption").innerText,
      width: box.width, height: box.height, ink: ink, coloured: colour,
      legend: Array.from(svg.closest("figure").querySelectorAll(".legend li")).map(li => li.innerText),
      texts: Array.from(svg.querySelectorAll("text")).map(t => t.textContent.trim()).filter(t => t),
    });
  }
  const tables = {};
  for (const section of document.querySelectorAll("section")) {
    const table = section.querySelector("table");
    tables[section.id] = table ? {
      head: Array.from(table.tHead.rows[0].cells).map(c => c.innerText),
      body: Array.from(table.tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.innerText)),
      foot: table.tFoot ? Array.from(table.tFoot.rows[0].cells).map(c => c.innerText) : null,
    } : null;
  }
  return { text: document.body.innerText, title: document.title, charts: charts, tables: tables };
})()
"""


class Browser:
    def __init__(self, chromium):
        self.profile = tempfile.TemporaryDirectory()
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # The child's fd 3 reads our commands, its fd 4 writes the answers.
        def wire():
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)
        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--remote-debugging-pipe", "--user-data-dir=" + self.profile.name],
            preexec_fn=wire, pass_fds=(3, 4),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.buffer = b""
        self.events = []

    def read(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        while True:
            answer = self.read()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def wait_for(self, method, session):
        for i, event in enumerate(self.events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self.events.pop(i)
        while True:
            event = self.read()
            if event.get("method") == method and event.get("sessionId") == session:
                return event
            self.events.append(event)

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        self.process.wait(timeout=20)
        self.profile.cleanup()


def evaluate(browser, session, expression):
    result = browser.call("Runtime.evaluate", {
        "expression": expression, "returnByValue": True, "awaitPromise": True}, session)
    if "exceptionDetails" in result:
        raise RuntimeError(json.dumps(result["exceptionDetails"]))
    return result["result"]["value"]


def main():
    chromium, page, screenshot = sys.argv[1:4]
    url = "file://" + os.path.abspath(page)
    browser = Browser(chromium)
    try:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget",
                               {"targetId": target, "flatten": True})["sessionId"]
        browser.call("Page.enable", {}, session)
        browser.call("Network.enable", {}, session)
        browser.call("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
            session)
        browser.call("Emulation.setDeviceMetricsOverride", {
            "width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
        browser.call("Page.navigate", {"url": url}, session)
        browser.wait_for("Page.loadEventFired", session)
        seen = evaluate(browser, session, COLLECT)
        requests = [e["params"]["request"]["url"] for e in browser.events
                    if e.get("method") == "Network.requestWillBeSent"
                    and e["params"]["request"]["url"] != url
                    and not e["params"]["request"]["url"].startswith("data:")]
        shot = browser.call("Page.captureScreenshot",
                            {"format": "png", "captureBeyondViewport": True}, session)
        with open(screenshot, "wb") as out:
            out.write(base64.b64decode(shot["data"]))
        pdf = browser.call("Page.printToPDF", {"printBackground": True}, session)
        browser.call("Emulation.setDeviceMetricsOverride", {
            "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}, session)
        phone = evaluate(browser, session, "document.documentElement.scrollWidth")
        seen.update({"requests": requests, "phone": phone,
                     "pdf_bytes": len(base64.b64decode(pdf["data"]))})
        print(json.dumps(seen))
    finally:
        browser.close()


if __name__ == "__main__":
    main()
