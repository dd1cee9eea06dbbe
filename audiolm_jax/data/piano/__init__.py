"""The built-in piano set: music21 scores, humanized performances, MIDI, two renderers."""
