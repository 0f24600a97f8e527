"""The learning loop: diagnostic -> signature -> problem -> solution -> replay -> verified fix."""
