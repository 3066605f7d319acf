"""The shipped filters, mapped here from the top-level filters/ at build time."""
