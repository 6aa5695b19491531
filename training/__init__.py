"""Training pipeline for the project's own FER2013 emotion model (not part of the installed product)."""
