#!/usr/bin/env python3
"""Open every page of the built site in headless Chromium and check it as a reader would see it.

Serves the built HTML on localhost and loads each page with Playwright, driving the
system Chromium (Debian's package ``chromium``; no browser download).  For every page:

- the title is the page's heading followed by the book's title;
- no request for a local resource fails (status >= 400 or a network error);
- every ``<img>`` is decoded (``naturalWidth > 0``);
- every internal link, including cross-references to figures, tables and equations,
  citations and the table of contents, points to a page and an anchor that exist;
- no raw MyST leaked into the text (``{code-cell}``, ``{glue:``, ``:::``, ``#| export``, roles);
- every code cell that produced output in the executed notebook shows it;
- no output contains a Python traceback;
- every cross-reference by number ("Fig. 3", "Table 2") lands on a figure with an image, or a table;
- all math was typeset by MathJax;
- on a desktop screen (1280 px) no code block scrolls sideways, hidden cells opened
  (the chapters keep code within 80 characters, and _static/nnfs.css sizes the font
  so that 80 fit);
- on a phone-sized screen (390 px) the page does not scroll sideways;
- in dark mode, no figure with a transparent background sits on a dark colour (its ink would vanish);
- the launch buttons point at files the repository has (Binder: the chapter; Colab: the chapter's
  notebook, which tools/notebooks.py writes);
- external links are listed in tools/external_links.txt (they are not fetched: CI is offline).

Every chapter in _toc.yml must have a page.

A screenshot of each chapter's first screen, in light and dark mode, goes to
``_build/screenshots/``.  MathJax comes from a CDN on the published site; offline, the
checker answers those requests from a local copy (``--mathjax``, the npm package mathjax@3).

Usage: python tools/check_browser.py [SITE] [--screenshots DIR] [--mathjax DIR] [--chromium PATH]
                                     [--external-links FILE] [--toc FILE|none]
Exit status 1, with one line per problem, if any check fails.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import mimetypes
import re
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

ROOT = Path(__file__).resolve().parent.parent
BOOK_TITLE = "Neural Networks from Scratch"
MATHJAX_CDN = re.compile(r"^https://cdn\.jsdelivr\.net/npm/mathjax@3/(?P<path>[^?#]+)")
LEAKS = ["{code-cell}", "{glue:", "{glue}", ":::", "#| export", "#| default_exp", "```{",
         "{cite:", "{eq}`", "{numref}`", "{ref}`", "{doc}`", "{math}`"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# What one page looks like to the reader, gathered in the browser.
PAGE_SCRIPT = r"""
async () => {
  // Prose only: code blocks and outputs may show MyST on purpose (a chapter about the tangler, a model's samples).
  const main = (document.querySelector('main') || document.body).cloneNode(true);
  main.querySelectorAll('pre, code, div.cell_output').forEach(e => e.remove());
  const text = main.innerText;
  const inputs = [...document.querySelectorAll('div.cell_input')].map(e => e.innerText).join('\n');
  const images = await Promise.all([...document.querySelectorAll('main img, article img')].map(async img => {
    try { await img.decode(); } catch (e) {}
    return {src: img.getAttribute('src'), width: img.naturalWidth};
  }));
  const cells = [...document.querySelectorAll('div.cell')].map(cell => ({
    id: cell.id || '',
    outputs: [...cell.querySelectorAll('div.cell_output')].filter(o => o.textContent.trim() || o.querySelector('img')).length,
    text: [...cell.querySelectorAll('div.cell_output')].map(o => o.textContent).join('\n'),
    traceback: cell.querySelector('.output.traceback, .output.error') !== null,
  }));
  const links = [...document.querySelectorAll('a[href]')].map(a => ({href: a.getAttribute('href'),
                                                                   internal: a.classList.contains('internal')}));
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  const numbered = [...document.querySelectorAll('a.reference.internal')]
    .map(a => ({href: a.getAttribute('href'), text: a.innerText.trim()}))
    .filter(r => /^(Fig\.|Figure|Table)\s*[0-9]/.test(r.text));
  const targets = {};
  document.querySelectorAll('figure[id], div.figure[id], table[id], div.table[id]').forEach(e => {
    if (e.matches('table') || e.querySelector('table')) targets[e.id] = 'table';
    else targets[e.id] = e.querySelector('img, svg, canvas') ? 'figure' : 'empty figure';
  });
  const math = [...document.querySelectorAll('main .math, article .math')];
  return {
    title: document.title, inputs,
    // The article's own heading (the theme may put a copy of the title elsewhere), with its number if any.
    h1: (document.querySelector('article h1') || document.querySelector('h1') || {innerText: ''}).innerText
          .replace(/#$/, '').replace(/\s+/g, ' ').trim(),
    text, images, cells, links, ids, numbered, targets,
    mathTotal: math.length,
    mathTypeset: math.filter(m => m.querySelector('mjx-container') !== null).length,
  };
}
"""


# Code blocks wider than their box at this window size, with every hidden cell opened
# (a collapsed <details> has no width to measure).
SCROLL_SCRIPT = r"""
() => {
  document.querySelectorAll('article details').forEach(d => { d.open = true; });
  return [...document.querySelectorAll('article pre')]
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => ({
      overflow: pre.scrollWidth - pre.clientWidth,
      line: pre.innerText.split('\n').reduce((a, b) => (b.length > a.length ? b : a), ''),
    }));
}
"""


# In dark mode: for each figure, the share of (nearly) transparent pixels and the colour behind it.
DARK_SCRIPT = r"""
() => [...document.querySelectorAll('article img')].filter(img => img.naturalWidth > 0
        && !img.matches('.only-dark, .dark-light')).map(img => {
  const canvas = document.createElement('canvas');
  canvas.width = Math.min(img.naturalWidth, 400);
  canvas.height = Math.max(1, Math.round(img.naturalHeight * canvas.width / img.naturalWidth));
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0, canvas.width, canvas.height);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let clear = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] < 128) clear++;
  let element = img, background = 'rgba(0, 0, 0, 0)';
  while (element && /rgba\([^)]*,\s*0\)$/.test(background = getComputedStyle(element).backgroundColor))
    element = element.parentElement;
  if (!element) background = 'rgb(255, 255, 255)';   // nothing painted behind it: the browser's white canvas
  return {src: img.getAttribute('src'), clear: clear / (data.length / 4), background};
})
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the checker reports failures itself
        pass


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def site_pages(site: Path) -> list[str]:
    """Every HTML page of the site (relative paths), leaving out Sphinx's internal folders."""
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                  if not any(part.startswith("_") for part in p.relative_to(site).parts[:-1]))


def expected_outputs(site: Path, page: str) -> list[int] | None:
    """Per code cell that the page shows, whether its executed notebook has a visible output (1) or not (0).

    Reads _build/jupyter_execute/<page>.ipynb; None for pages that are not notebooks.
    """
    notebook = site.parent / "jupyter_execute" / Path(page).with_suffix(".ipynb")
    if not notebook.exists():
        return None
    shown = []
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        tags = set(cell.get("metadata", {}).get("tags", []))
        if "remove-cell" in tags:
            continue
        visible = [o for o in cell.get("outputs", [])
                   if "scrapbook" not in o.get("metadata", {})]  # glued values are shown where the text uses them
        shown.append(int(bool(visible) and "remove-output" not in tags))
    return shown


def load_external_allowlist(path: Path) -> list[str]:
    """The allowed external URLs; an entry ending in * allows every URL that starts with the rest."""
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def allowed(url: str, allowlist: list[str]) -> bool:
    return any(url.startswith(entry[:-1]) if entry.endswith("*") else url == entry for entry in allowlist)


def luminance(css_colour: str) -> float:
    """Relative luminance (0 black .. 1 white) of a CSS rgb()/rgba() colour."""
    channels = [float(c) / 255 for c in re.findall(r"[\d.]+", css_colour)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def check_dark(name: str, figures: list[dict]) -> list[str]:
    return [f"{name}: in dark mode, {fig['src']} is {fig['clear']:.0%} transparent and sits on the dark colour "
            f"{fig['background']}: draw it on an opaque background (or give a dark-mode variant)"
            for fig in figures if fig["clear"] > 0.01 and luminance(fig["background"]) < 0.4]


def check_site(site: Path, screenshots: Path | None, mathjax: Path | None, chromium: str,
               chapters: set[str], allowlist: list[str]) -> tuple[list[str], dict]:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    seen_external: set[str] = set()
    pages = site_pages(site)
    ids: dict[str, set[str]] = {}
    links: dict[str, list[dict]] = {}
    numbered: dict[str, list[dict]] = {}
    targets: dict[str, dict[str, str]] = {}
    server, base = serve(site)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport=DESKTOP)

            def route(request_route):
                url = request_route.request.url
                match = MATHJAX_CDN.match(url)
                if url.startswith(base):
                    request_route.continue_()
                elif match and mathjax is not None and (mathjax / match["path"]).is_file():
                    file = mathjax / match["path"]
                    request_route.fulfill(path=str(file), content_type=mimetypes.guess_type(file.name)[0])
                else:
                    seen_external.add(url)
                    request_route.abort()

            context.route("**/*", route)
            for name in pages:
                failed: list[str] = []
                page = context.new_page()
                page.on("requestfailed", lambda r, failed=failed: failed.append(f"{r.url} ({r.failure})")
                        if r.url.startswith(base) else None)
                page.on("response", lambda r, failed=failed: failed.append(f"{r.url} (HTTP {r.status})")
                        if r.url.startswith(base) and r.status >= 400 else None)
                page.goto(base + name, wait_until="load")
                page.wait_for_load_state("networkidle")
                if page.url != base + name:   # a redirect page (the site's root): its target is checked itself
                    page.close()
                    continue
                page.evaluate("async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }")
                info = page.evaluate(PAGE_SCRIPT)
                problems += check_page(name, info, failed, expected_outputs(site, name))
                ids[name] = set(info["ids"])
                links[name] = info["links"]
                numbered[name] = info["numbered"]
                targets[name] = info["targets"]
                stem = Path(name).with_suffix("").as_posix()
                shot = None
                if screenshots is not None and stem in chapters:
                    shot = screenshots / (stem.replace("/", "_") + ".png")
                    shot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(shot))
                for block in page.evaluate(SCROLL_SCRIPT):
                    problems.append(
                        f"{name}: at {DESKTOP['width']} px a code block scrolls sideways by "
                        f"{block['overflow']} px; its widest line ({len(block['line'])} "
                        f"characters): {block['line'][:100]!r}")
                page.set_viewport_size(PHONE)
                wide = page.evaluate("() => document.documentElement.scrollWidth")
                if wide > PHONE["width"]:
                    problems.append(f"{name}: on a phone ({PHONE['width']} px wide) the page is {wide} px wide "
                                    "and scrolls sideways")
                page.set_viewport_size(DESKTOP)
                page.evaluate("() => document.documentElement.dataset.theme = 'dark'")
                page.wait_for_timeout(50)   # let the theme's dark styles apply
                problems += check_dark(name, page.evaluate(DARK_SCRIPT))
                if shot is not None:
                    page.screenshot(path=str(shot.with_name(shot.stem + "-dark.png")))
                page.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    problems += check_links(site, pages, ids, links, allowlist)
    problems += check_numbered(numbered, targets)
    missing = sorted(c for c in chapters if not (site / (c + ".html")).is_file())
    problems += [f"{c}.html: the chapter is in the table of contents but has no page" for c in missing]
    external_pages = sorted(u for u in seen_external if not MATHJAX_CDN.match(u))
    for url in external_pages:
        problems.append(f"a page requested an external resource, which a reader offline would miss: {url}")
    return problems, {"pages": len(pages)}


def check_page(name: str, info: dict, failed: list[str], outputs: list[int] | None) -> list[str]:
    problems = []
    title = info["title"]
    if not info["h1"]:
        if name not in ("genindex.html", "search.html"):   # Sphinx's generated pages have no heading
            problems.append(f"{name}: no <h1> heading")
    elif not title.startswith(info["h1"]) or not title.endswith(BOOK_TITLE):
        problems.append(f"{name}: title {title!r} should be the heading {info['h1']!r} and the book's title")
    problems += [f"{name}: failed request {f}" for f in failed]
    problems += [f"{name}: image {img['src']} did not decode" for img in info["images"] if img["width"] == 0]
    for leak in LEAKS:
        if leak in info["text"]:
            at = info["text"].index(leak)
            problems.append(f"{name}: raw MyST {leak!r} in the page text: …{info['text'][max(0, at - 40):at + 40]!r}…")
    if "#| " in info["inputs"]:
        problems.append(f"{name}: a tangler directive (#| …) is visible in a code cell")
    for i, cell in enumerate(info["cells"]):
        if cell["traceback"] or "Traceback (most recent call last)" in cell["text"]:
            problems.append(f"{name}: code cell {i + 1} shows a Python traceback")
    if outputs is not None:
        shown = [int(cell["outputs"] > 0) for cell in info["cells"]]
        if len(shown) != len(outputs):
            problems.append(f"{name}: {len(shown)} code cells on the page but {len(outputs)} in the executed notebook")
        else:
            for i, (want, got) in enumerate(zip(outputs, shown)):
                if want and not got:
                    problems.append(f"{name}: code cell {i + 1} has output in the executed notebook but shows none")
    if info["mathTypeset"] != info["mathTotal"]:
        problems.append(f"{name}: {info['mathTotal'] - info['mathTypeset']} of {info['mathTotal']} math "
                        "elements were not typeset by MathJax")
    return problems


def check_links(site: Path, pages: list[str], ids: dict[str, set[str]], links: dict[str, list[dict]],
                allowlist: set[str]) -> list[str]:
    problems = []
    for name in links:
        for link in links[name]:
            href = link["href"]
            scheme = urlparse(href).scheme
            if scheme in ("http", "https"):
                if not allowed(href, allowlist):
                    problems.append(f"{name}: external link {href} is not listed in tools/external_links.txt")
                problems += check_launch(name, href)
                continue
            if scheme or href.startswith(("mailto:", "javascript:")):
                continue
            target, fragment = urldefrag(urljoin(name, href))
            target = unquote(target) or name
            if target.endswith("/"):
                target += "index.html"
            if target in ids:
                if fragment and unquote(fragment) not in ids[target]:
                    problems.append(f"{name}: link {href} points to #{fragment}, which {target} does not have")
            elif not (site / target).is_file():
                problems.append(f"{name}: link {href} points to {target}, which does not exist")
    return problems


def check_launch(name: str, href: str) -> list[str]:
    """A launch button must open a file that exists: the chapter (Binder) or its notebook (Colab)."""
    binder = re.search(r"^https://mybinder\.org/v2/gh/[^?]+\?urlpath=lab/tree/(?P<path>.+)$", href)
    if binder and not (ROOT / unquote(binder["path"])).is_file():
        return [f"{name}: the Binder button opens {binder['path']}, which the repository does not have"]
    colab = re.search(r"^https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/(?P<path>.+)$", href)
    if colab:
        from notebooks import has_code_cells   # the rule tools/notebooks.py writes notebooks by

        path = Path(unquote(colab["path"]))
        source = ROOT / path.with_suffix(".md")
        if path.suffix != ".ipynb" or not source.is_file() or not has_code_cells(source):
            return [f"{name}: the Colab button opens {path}, which tools/notebooks.py does not write"]
    return []


def check_numbered(numbered: dict[str, list[dict]], targets: dict[str, dict[str, str]]) -> list[str]:
    """'Fig. n' must land on a figure that has an image, 'Table n' on a table."""
    problems = []
    for name, refs in numbered.items():
        for ref in refs:
            target, fragment = urldefrag(urljoin(name, ref["href"]))
            kind = targets.get(unquote(target) or name, {}).get(unquote(fragment))
            want = "table" if ref["text"].startswith("Table") else "figure"
            if kind != want:
                problems.append(f"{name}: {ref['text']!r} links to {ref['href']}, which is "
                                f"{'not a figure or table' if kind is None else 'a ' + kind}, not a {want}")
    return problems


def toc_pages(toc_file: Path = ROOT / "_toc.yml") -> set[str]:
    import yaml
    toc = yaml.safe_load(toc_file.read_text())
    files, stack = {toc["root"]}, list(toc.get("parts", [])) + list(toc.get("chapters", []))
    while stack:
        entry = stack.pop()
        if "file" in entry:
            files.add(entry["file"])
        stack += entry.get("chapters", []) + entry.get("sections", [])
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", nargs="?", default=str(ROOT / "_build" / "html"))
    parser.add_argument("--screenshots", default=str(ROOT / "_build" / "screenshots"))
    parser.add_argument("--mathjax", default=str(ROOT / ".venv" / "mathjax" / "node_modules" / "mathjax"),
                        help="a local copy of the npm package mathjax@3, served in place of the CDN")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--external-links", default=str(ROOT / "tools" / "external_links.txt"))
    parser.add_argument("--toc", default=str(ROOT / "_toc.yml"),
                        help="the book's table of contents: its chapters must have pages and get screenshots "
                             "('none' to skip)")
    args = parser.parse_args(argv)
    site = Path(args.site)
    if not (site / "index.html").is_file():
        print(f"no built site at {site} (expected {site / 'index.html'}); run `make book` first", file=sys.stderr)
        return 2
    if not Path(args.chromium).exists():
        print(f"no Chromium at {args.chromium}; install Debian's chromium package", file=sys.stderr)
        return 2
    mathjax = Path(args.mathjax) if Path(args.mathjax).is_dir() else None
    chapters = set() if args.toc == "none" else toc_pages(Path(args.toc))
    problems, stats = check_site(site, Path(args.screenshots), mathjax, args.chromium, chapters,
                                 load_external_allowlist(Path(args.external_links)))
    for problem in problems:
        print(problem)
    print(f"checked {stats['pages']} pages in Chromium: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
