"""A report as a list of blocks, rendered to Markdown and to HTML from the same content."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import pandas as pd


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


@dataclass
class Report:
    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("heading", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def table(self, frame: pd.DataFrame) -> None:
        self.blocks.append(("table", frame))

    def image(self, path: str, caption: str) -> None:
        self.blocks.append(("image", (path, caption)))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("bullets", items))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, content in self.blocks:
            if kind == "heading":
                out += [f"## {content}", ""]
            elif kind == "paragraph":
                out += [content, ""]
            elif kind == "table":
                columns = [str(c) for c in content.columns]
                out += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
                out += ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |"
                        for row in content.itertuples(index=False)]  # fmt: skip
                out += [""]
            elif kind == "image":
                path, caption = content
                out += [f"![{caption}]({path})", "", f"*{caption}*", ""]
            elif kind == "bullets":
                out += [f"- {item}" for item in content] + [""]
        return "\n".join(out)

    def html(self) -> str:
        e = html.escape
        out = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{e(self.title)}</title><style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
            "img{max-width:100%}</style></head><body>",
            f"<h1>{e(self.title)}</h1>",
        ]
        for kind, content in self.blocks:
            if kind == "heading":
                out.append(f"<h2>{e(content)}</h2>")
            elif kind == "paragraph":
                out.append(f"<p>{e(content)}</p>")
            elif kind == "table":
                head = "".join(f"<th>{e(str(c))}</th>" for c in content.columns)
                body = "".join(
                    "<tr>" + "".join(f"<td>{e(_cell(v))}</td>" for v in row) + "</tr>"
                    for row in content.itertuples(index=False)
                )
                out.append(f"<table><tr>{head}</tr>{body}</table>")
            elif kind == "image":
                path, caption = content
                out.append(
                    f"<figure><img src='{e(path)}' alt='{e(caption)}'><figcaption>{e(caption)}</figcaption></figure>"
                )
            elif kind == "bullets":
                out.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in content) + "</ul>")
        out.append("</body></html>")
        return "\n".join(out)
