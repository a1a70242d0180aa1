provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "bunri"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
