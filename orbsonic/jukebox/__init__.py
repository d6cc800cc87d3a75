"""The jukebox's player: a local mpv driven through its JSON IPC (orbsonic.jukebox.mpv)."""
