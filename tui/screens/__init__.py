"""The app's screens: home, chat, code approval, memory browser, team editor, help."""
