"""Enforcement where there is no firewall: policy services and deny files, fed by decisions."""
