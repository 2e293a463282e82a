# Experiment `syntax`: see DESIGN.md and config/README.md.


def syntax_final_output():
    return []
