"""Learning from users: the classes their feedback names (DESIGN.md section 3, "Feedback"), as
scan-api checks them and `bunri feedback export` (bunri_programs.feedback_export) files them."""

from bunri.feedback.classes import check_class, class_folder, class_path

__all__ = ["check_class", "class_folder", "class_path"]
