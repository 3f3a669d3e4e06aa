"""The sanitization harness: ``xss-check`` against the built-in pipeline or
anyone's renderer (a command, a URL, an ES module in Chromium), its corpus,
its static and browser oracles, its reports (text, JSON, JUnit XML, HTML),
differential runs, a pytest helper, and the ``/sanitize`` page.

The modules, one job each: ``corpus`` (payloads), ``results`` (records),
``pipeline`` (the built-in pipeline's static check), ``danger`` (static
judgement of foreign HTML), ``targets`` (other renderers), ``oracle/``
(Chromium), ``report`` (formats), ``diff`` (two targets), ``assertions``
(pytest), ``xss`` (the historical public names), ``page`` (the HTTP page,
the only module that needs tornado), ``chromium`` (launch flags).
"""
