"""The demo pages, mounted only when asked (``make_app(demos=True)``, as
``python -m renderer serve`` does): ``/demo/progressive``."""
