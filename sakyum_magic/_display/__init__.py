"""_display"""
