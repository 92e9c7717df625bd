"""Pure geometry, metrics and shared data types. Never imports rclpy."""
