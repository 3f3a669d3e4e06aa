"""A deliberately weak --command target: Markdown links and images by regex,
everything else passed through as it is. It exists to prove that the
harness catches a renderer that lets script through:

    python -m renderer xss-check --command "python examples/harness/weak_render.py"
"""

import re
import sys

text = sys.stdin.read()
text = re.sub(r"!\[([^\]]*)\]\(([^)\s]*)\)", r'<img alt="\1" src="\2">', text)
text = re.sub(r"\[([^\]]*)\]\(([^)\s]*)\)", r'<a href="\2">\1</a>', text)
sys.stdout.write(f"<p>{text}</p>\n")
