"""The argus command line: a thin typer + rich layer over the SDK."""
