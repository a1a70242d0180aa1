"""Learning from users: the classes their feedback names, and its export as a training dataset
(`bunri feedback export`, DESIGN.md section 3, "Feedback")."""

from bunri.feedback.classes import check_class, class_folder, class_path

__all__ = ["check_class", "class_folder", "class_path"]
