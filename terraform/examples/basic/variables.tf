variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "environment" {
  description = "Environment name, used in the name prefix and tags."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,9}$", var.environment))
    error_message = "environment must be 1-10 lower-case letters and digits, starting with a letter."
  }
}

variable "vpc_id" {
  description = "Existing VPC."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets (two or more AZs) for the ALB."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets with a NAT gateway for the tasks and Redis."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate for the api's host name."
  type        = string
}

variable "image" {
  description = "imapapi image built from infra/deploy/Dockerfile and pushed to ECR."
  type        = string
}

variable "ecr_repository_arn" {
  description = "ECR repository of the image (null for a public image)."
  type        = string
  default     = null
}

variable "alarm_topic_arn" {
  description = "SNS topic for the queue alarms (null: alarms without notifications)."
  type        = string
  default     = null
}
