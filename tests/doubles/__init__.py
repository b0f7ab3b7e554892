"""Test doubles that speak a real service's protocol (for services that cannot run here)."""
