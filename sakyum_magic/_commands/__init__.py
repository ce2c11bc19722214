"""_commands"""
