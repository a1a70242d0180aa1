variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a bucket that still holds images (and every version)."
  type        = bool
  default     = false
}

variable "thumbnail_max_bytes" {
  description = "Objects up to this size are treated as thumbnails by the lifecycle rules (128 KiB, the Standard-IA minimum billable size)."
  type        = number
  default     = 131072
}

variable "original_infrequent_access_after_days" {
  description = "Days before an original moves to Standard-IA (30 at least)."
  type        = number
  default     = 30

  validation {
    condition     = var.original_infrequent_access_after_days >= 30
    error_message = "S3 moves objects to Standard-IA after 30 days at the earliest."
  }
}

variable "original_glacier_ir_after_days" {
  description = "Days before an original moves to Glacier Instant Retrieval (still served in milliseconds); S3 wants it at least 30 days after the Standard-IA transition."
  type        = number
  default     = 120
}

variable "original_expiration_days" {
  description = "Delete originals after this many days (null: keep them)."
  type        = number
  default     = null
}

variable "thumbnail_expiration_days" {
  description = "Delete thumbnails after this many days (null: keep them)."
  type        = number
  default     = null
}

variable "noncurrent_version_days" {
  description = "Days a deleted or replaced object's old version is kept."
  type        = number
  default     = 30
}
