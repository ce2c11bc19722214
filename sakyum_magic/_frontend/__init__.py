"""_frontend"""
