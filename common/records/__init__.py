"""Records: the frozen values the ports take and give, kept apart from the ports themselves."""
